;; Reports progress, then spins forever: lets tests act while a task is certainly running.
(module
  (import "plusone" "progress" (func $progress (param i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32)
    (call $progress (i32.const 1))
    (loop $forever (br $forever))
    (i32.const 0)))
