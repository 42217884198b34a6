;; memory.grow as WebAssembly defines it: past the module's declared maximum (2 pages) it
;; returns -1 and the task carries on. Output: the results of grow(1), grow(1), then the size.
(module
  (import "plusone" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1 2)
  (func (export "run") (result i32)
    (i32.store (i32.const 0) (memory.grow (i32.const 1)))
    (i32.store (i32.const 4) (memory.grow (i32.const 1)))
    (i32.store (i32.const 8) (memory.size))
    (call $output_write (i32.const 0) (i32.const 12))
    (i32.const 0)))
