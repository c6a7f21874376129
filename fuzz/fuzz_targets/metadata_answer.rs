#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tencentcloud_partner_exporter::fuzzing::metadata_answer(data));
