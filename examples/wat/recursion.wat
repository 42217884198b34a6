;; Recurses without end: the rewriter's call-depth budget must trap it, never V8's stack limit.
(module
  (memory (export "memory") 1)
  (func $down (param $n i32) (result i32)
    (i32.add (call $down (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
  (func (export "run") (result i32) (drop (call $down (i32.const 0))) (i32.const 0)))
