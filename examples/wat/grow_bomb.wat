;; Grows memory one page at a time forever: must end as out_of_memory at the task's limit.
(module
  (memory (export "memory") 1)
  (func (export "run") (result i32)
    (loop $more
      (drop (memory.grow (i32.const 1)))
      (br $more))
    (i32.const 0)))
