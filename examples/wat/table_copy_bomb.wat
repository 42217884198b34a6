;; The hostile-module review's case: 100 table.copy over a 1,048,576-entry table took 2.2 s of
;; CPU for 1,303 fuel and ended ok. table.copy's cost grows with its length operand, and no
;; compiler emits it for ordinary code, so the module is refused (invalid_module) before it runs.
(module
  (memory (export "memory") 1)
  (table 1048576 funcref)
  (func $f)
  (elem (i32.const 0) $f)
  (func (export "run") (result i32)
    (local $i i32)
    (loop $again
      (table.copy (i32.const 1) (i32.const 0) (i32.const 1048575))
      (br_if $again
        (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 100))))
    (i32.const 0)))
