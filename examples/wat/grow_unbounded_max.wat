;; Declares a maximum of 4 GiB; the host clamps it to the task's limit, so growing by 65,000
;; pages returns -1 under a small limit (run returns 1: status error) and succeeds under a
;; large one (run returns 0).
(module
  (memory (export "memory") 1 65536)
  (func (export "run") (result i32)
    (if (i32.eq (memory.grow (i32.const 65000)) (i32.const -1)) (then (return (i32.const 1))))
    (i32.const 0)))
