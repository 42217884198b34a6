(module
  (memory (export "memory") 1)
  (func (export "run") (result i32)
    (drop (i32x4.splat (i32.const 1)))
    (i32.const 0)))
