;; Imports a clock: must be rejected as invalid_module.
(module
  (import "env" "now" (func $now (result f64)))
  (memory (export "memory") 1)
  (func (export "run") (result i32) (i32.const 0)))
