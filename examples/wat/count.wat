;; Loops N times (N = input as u32 little-endian), writes the 8-byte sum. Fuel grows with N.
(module
  (import "plusone" "input_read" (func $input_read (param i32 i32 i32) (result i32)))
  (import "plusone" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32)
    (local $n i32) (local $i i32) (local $sum i64)
    (drop (call $input_read (i32.const 0) (i32.const 0) (i32.const 4)))
    (local.set $n (i32.load (i32.const 0)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $sum (i64.add (local.get $sum) (i64.extend_i32_u (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i64.store (i32.const 8) (local.get $sum))
    (call $output_write (i32.const 8) (i32.const 8))
    (i32.const 0)))
