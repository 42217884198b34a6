;; Calibration workload (bench/runtime.ts), input: u32 n, u32 mode, then any bytes.
;; mode 0: n calls of input_len; mode 1: n calls of progress; mode 2: n copies of the whole
;; input with input_read (host copies pay one fuel per 64 bytes on top of the call).
(module
  (import "plusone" "input_len" (func $input_len (result i32)))
  (import "plusone" "input_read" (func $input_read (param i32 i32 i32) (result i32)))
  (import "plusone" "progress" (func $progress (param i32)))
  (memory (export "memory") 32)
  (func (export "run") (result i32)
    (local $n i32)
    (local $mode i32)
    (local $acc i32)
    (drop (call $input_read (i32.const 0) (i32.const 0) (i32.const 8)))
    (local.set $n (i32.load (i32.const 0)))
    (local.set $mode (i32.load (i32.const 4)))
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $n)))
        (if (i32.eqz (local.get $mode))
          (then (local.set $acc (i32.add (local.get $acc) (call $input_len)))))
        (if (i32.eq (local.get $mode) (i32.const 1))
          (then (call $progress (i32.and (local.get $n) (i32.const 1023)))))
        (if (i32.eq (local.get $mode) (i32.const 2))
          (then (local.set $acc
            (i32.add (local.get $acc) (call $input_read (i32.const 16) (i32.const 0) (call $input_len))))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $more)))
    (i32.store (i32.const 8) (local.get $acc))
    (i32.const 0)))
