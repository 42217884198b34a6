;; Produces NaNs of both signs and several payloads, by arithmetic, negation, constants and
;; reinterpretation; every one must come out as the canonical NaN.
(module
  (import "plusone" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (global $zero (mut f64) (f64.const 0))
  (func (export "run") (result i32)
    (local $nan f64)
    (local.set $nan (f64.div (global.get $zero) (global.get $zero)))
    (f64.store (i32.const 0) (local.get $nan))
    (f64.store (i32.const 8) (f64.neg (local.get $nan)))
    (f64.store (i32.const 16) (f64.const -nan))
    (f64.store (i32.const 24) (f64.const nan:0x1234))
    (i64.store (i32.const 32) (i64.reinterpret_f64 (f64.neg (f64.const nan))))
    (f32.store (i32.const 40) (f32.div (f32.const 0) (f32.demote_f64 (global.get $zero))))
    (f32.store (i32.const 44) (f32.const -nan:0x7))
    (i32.store (i32.const 48) (i32.reinterpret_f32 (f32.neg (f32.const nan))))
    ;; copysign takes the sign of a NaN: canonicalised, so always positive
    (f64.store (i32.const 56) (f64.copysign (f64.const 1) (f64.const -nan)))
    (call $output_write (i32.const 0) (i32.const 64))
    (i32.const 0)))
