(module
  (memory (export "memory") 1)
  (func $zero (result i32) (i32.const 0))
  (func (export "run") (result i32) (return_call $zero)))
