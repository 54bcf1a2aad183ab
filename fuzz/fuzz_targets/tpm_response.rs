//! A TPM 2.0 response as read from /dev/tpmrm0: parsed both as the answer
//! to `TPM2_GetCapability(TPM_CAP_PCRS)` and as the answer to
//! `TPM2_PCR_Extend` (hopboot sends only those two commands).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use hopboot_loader::tpm::{parse_extend_response, parse_pcr_banks};
    if data.len() > hopboot_fuzz::MAX_INPUT {
        return;
    }
    if let Ok(banks) = parse_pcr_banks(data) {
        assert!(banks.len() <= 16, "{} banks", banks.len());
        for b in &banks {
            let _ = (b.has(8), b.has(40), hopboot_loader::tpm::Alg::from_id(b.alg));
        }
    }
    let _ = parse_extend_response(data);
});
