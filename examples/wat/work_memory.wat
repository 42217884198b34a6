;; Calibration workload (bench/runtime.ts): memory.copy and memory.fill of 64 KiB, n times
;; (input: u32 n). Bulk operations pay one fuel per 64 bytes.
(module
  (import "plusone" "input_read" (func $input_read (param i32 i32 i32) (result i32)))
  (memory (export "memory") 4)
  (func (export "run") (result i32)
    (local $n i32)
    (drop (call $input_read (i32.const 0) (i32.const 0) (i32.const 4)))
    (local.set $n (i32.load (i32.const 0)))
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $n)))
        (memory.copy (i32.const 65536) (i32.const 131072) (i32.const 65536))
        (memory.fill (i32.const 131072) (local.get $n) (i32.const 65536))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $more)))
    (i32.const 0)))
