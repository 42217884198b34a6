;; table.init from a passive element segment, a million entries per instruction: refused like
;; table.copy (its cost grows with the length operand).
(module
  (memory (export "memory") 1)
  (table 1048576 funcref)
  (func $f)
  (elem func $f)
  (func (export "run") (result i32)
    (table.init 0 (i32.const 0) (i32.const 0) (i32.const 1))
    (i32.const 0)))
