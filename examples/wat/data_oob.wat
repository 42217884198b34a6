;; An active data segment beyond memory: instantiation traps.
(module
  (memory (export "memory") 1)
  (data (i32.const 65535) "xy")
  (func (export "run") (result i32) (i32.const 0)))
