;; Grows memory one page at a time until memory.grow is refused (returns -1), then traps, as
;; AssemblyScript's allocator does when it cannot get memory: must end as out_of_memory at the
;; task's limit.
(module
  (memory (export "memory") 1)
  (func (export "run") (result i32)
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable))
