;; NaN semantics. WebAssembly leaves open only the bits of a NaN *produced by arithmetic*; the
;; rewriter replaces such NaNs with the canonical NaN (positive, quiet, zero payload) so every
;; CPU agrees, and leaves bit-exact operators (neg, abs, copysign, reinterpret, loads, stores,
;; constants, locals, globals, calls) alone. Output: 19 little-endian u64, one per line below
;; (f32 results widened from their bit pattern).
(module
  (import "plusone" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (global $zero (mut f64) (f64.const 0))
  (global $snan (mut f32) (f32.const nan:0x1))
  (global $out (mut i32) (i32.const 0))
  (func $put (param i64)
    (i64.store (global.get $out) (local.get 0))
    (global.set $out (i32.add (global.get $out) (i32.const 8))))
  (func $put32 (param f32) (call $put (i64.extend_i32_u (i32.reinterpret_f32 (local.get 0)))))
  (func $put64 (param f64) (call $put (i64.reinterpret_f64 (local.get 0))))
  (func $id32 (param f32) (result f32) (local.get 0))
  (func (export "run") (result i32)
    (local $nan f64)
    (local $x f32)
    (local $raw f64)
    ;; arithmetic NaNs of every sign and payload: one canonical NaN
    (call $put64 (f64.div (global.get $zero) (global.get $zero)))                    ;; 0
    (call $put64 (f64.add (f64.const -nan:0x1234) (f64.const 1)))                    ;; 1
    (call $put64 (f64.mul (f64.const nan:0x5) (f64.const 2)))                        ;; 2
    (call $put64 (f64.sqrt (f64.const -1)))                                          ;; 3
    (call $put32 (f32.div (f32.const 0) (f32.demote_f64 (global.get $zero))))        ;; 4
    (call $put32 (f32.sub (f32.const -nan:0x7) (f32.const 1)))                       ;; 5
    (call $put32 (f32.demote_f64 (f64.const -nan:0x8000000000)))                     ;; 6
    (call $put64 (f64.promote_f32 (f32.const -nan:0x3)))                             ;; 7
    (call $put32 (f32.min (f32.const -nan) (f32.const 0)))                           ;; 8
    ;; bit-exact operators keep sign and payload
    (call $put (i64.reinterpret_f64 (f64.const -nan)))                               ;; 9
    (call $put (i64.extend_i32_u (i32.reinterpret_f32 (f32.const -nan))))            ;; 10
    (call $put64 (f64.copysign (f64.const 1) (f64.const -nan)))                      ;; 11
    (call $put32 (f32.copysign (f32.const 1) (f32.const -nan)))                      ;; 12
    (local.set $nan (f64.div (global.get $zero) (global.get $zero)))
    (call $put64 (f64.neg (local.get $nan)))                                         ;; 13
    (call $put32 (f32.abs (f32.const -nan:0x2)))                                     ;; 14
    ;; a signalling NaN through a store, a load, a local, a global and a call
    (i32.store (i32.const 1024) (i32.const 0x7f800001))
    (local.set $x (call $id32 (f32.load (i32.const 1024))))
    (f32.store (i32.const 1028) (local.get $x))
    (call $put (i64.extend_i32_u (i32.load (i32.const 1028))))                       ;; 15
    (call $put32 (global.get $snan))                                                 ;; 16
    ;; an arithmetic NaN kept in a local that only arithmetic reads, then observed
    (local.set $raw (f64.mul (global.get $zero) (f64.const inf)))
    (call $put64 (f64.add (local.get $raw) (f64.const 1)))                           ;; 17
    (call $put (i64.reinterpret_f64 (f64.sub (local.get $raw) (local.get $raw))))    ;; 18
    (call $output_write (i32.const 0) (global.get $out))
    (i32.const 0)))
