#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tencentcloud_partner_exporter::fuzzing::snapshot_file(data));
