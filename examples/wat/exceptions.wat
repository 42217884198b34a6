(module
  (tag $oops)
  (memory (export "memory") 1)
  (func (export "run") (result i32) (throw $oops)))
