//! Memory aligned for direct I/O, which needs the buffer's address, the file offset and the
//! length to be multiples of the device's logical block size.

/// 4 KiB covers every common device (512-byte and 4 KiB sectors).
pub(crate) const ALIGN: usize = 4096;

/// A zeroed buffer whose start is aligned to [`ALIGN`] and whose length is a multiple of it.
pub(crate) struct AlignedBuf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// At least `len` bytes, rounded up to the alignment.
    pub(crate) fn new(len: usize) -> Self {
        let len = len.div_ceil(ALIGN) * ALIGN;
        // One spare block leaves room to move the start to an aligned address.
        let raw = vec![0; len + ALIGN];
        let start = raw.as_ptr().align_offset(ALIGN);
        Self { raw, start, len }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_start_aligned_and_round_their_length_up() {
        for len in [0, 1, ALIGN - 1, ALIGN, ALIGN + 1, 3 * ALIGN + 7] {
            let mut buffer = AlignedBuf::new(len);
            assert_eq!(buffer.len(), len.div_ceil(ALIGN) * ALIGN);
            assert_eq!(buffer.as_mut_slice().as_ptr() as usize % ALIGN, 0);
            assert!(buffer.as_slice().iter().all(|&b| b == 0));
        }
    }
}
