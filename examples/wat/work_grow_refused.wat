;; Calibration workload (bench/runtime.ts): n refused memory.grow calls (input: u32 n); the
;; memory is at its declared maximum.
(module
  (import "plusone" "input_read" (func $input_read (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (func (export "run") (result i32)
    (local $n i32)
    (drop (call $input_read (i32.const 0) (i32.const 0) (i32.const 4)))
    (local.set $n (i32.load (i32.const 0)))
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $n)))
        (drop (memory.grow (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $more)))
    (i32.const 0)))
