;; Loops forever in the start function, before run: must end as out_of_fuel.
(module
  (memory (export "memory") 1)
  (func $start (loop $forever (br $forever)))
  (start $start)
  (func (export "run") (result i32) (i32.const 0)))
