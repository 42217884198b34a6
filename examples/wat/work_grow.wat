;; Calibration workload (bench/runtime.ts): grows memory by n pages, one at a time, writing one
;; byte to every 4 KiB of each new page (input: u32 n), so the engine commits and zeroes them.
(module
  (import "plusone" "input_read" (func $input_read (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32)
    (local $n i32)
    (local $p i32)
    (local $a i32)
    (drop (call $input_read (i32.const 0) (i32.const 0) (i32.const 4)))
    (local.set $n (i32.load (i32.const 0)))
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $p (memory.grow (i32.const 1)))
        (if (i32.eq (local.get $p) (i32.const -1)) (then (return (i32.const 1))))
        (local.set $a (i32.shl (local.get $p) (i32.const 16)))
        (loop $touch
          (i32.store8 (local.get $a) (i32.const 1))
          (local.set $a (i32.add (local.get $a) (i32.const 4096)))
          (br_if $touch (i32.and (local.get $a) (i32.const 0xffff))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $more)))
    (i32.const 0)))
