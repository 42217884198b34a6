;; Needs 320 MiB before it runs.
(module
  (memory (export "memory") 5120)
  (func (export "run") (result i32) (i32.const 0)))
