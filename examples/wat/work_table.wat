;; Calibration workload (bench/runtime.ts): n indirect calls through the function table
;; (input: u32 n). Output: the u32 sum of the results.
(module
  (import "plusone" "input_read" (func $input_read (param i32 i32 i32) (result i32)))
  (import "plusone" "output_write" (func $output_write (param i32 i32)))
  (type $op (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (table 4 funcref)
  (elem (i32.const 0) $inc $dbl $neg $sq)
  (func $inc (type $op) (i32.add (local.get 0) (i32.const 1)))
  (func $dbl (type $op) (i32.shl (local.get 0) (i32.const 1)))
  (func $neg (type $op) (i32.sub (i32.const 0) (local.get 0)))
  (func $sq (type $op) (i32.mul (local.get 0) (local.get 0)))
  (func (export "run") (result i32)
    (local $n i32)
    (local $acc i32)
    (drop (call $input_read (i32.const 0) (i32.const 0) (i32.const 4)))
    (local.set $n (i32.load (i32.const 0)))
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc
          (i32.add (local.get $acc)
            (call_indirect (type $op) (local.get $n) (i32.and (local.get $n) (i32.const 3)))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $more)))
    (i32.store (i32.const 0) (local.get $acc))
    (call $output_write (i32.const 0) (i32.const 4))
    (i32.const 0)))
