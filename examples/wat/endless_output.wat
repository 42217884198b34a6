;; Writes output forever: must end as output_too_large.
(module
  (import "plusone" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32)
    (loop $more
      (call $output_write (i32.const 0) (i32.const 1000))
      (br $more))
    (i32.const 0)))
