(module
  (table $t 1 funcref)
  (memory (export "memory") 1)
  (func (export "run") (result i32)
    (drop (table.get $t (i32.const 0)))
    (i32.const 0)))
