;; Fills N bytes (input u32) with memory.fill: bulk operations pay for the bytes they touch.
(module
  (import "plusone" "input_read" (func $input_read (param i32 i32 i32) (result i32)))
  (memory (export "memory") 64)
  (func (export "run") (result i32)
    (drop (call $input_read (i32.const 0) (i32.const 0) (i32.const 4)))
    (memory.fill (i32.const 16) (i32.const 7) (i32.load (i32.const 0)))
    (memory.copy (i32.const 16) (i32.const 32) (i32.load (i32.const 0)))
    (i32.const 0)))
