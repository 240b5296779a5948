//! A message built in a `const` context, where `format!` is unavailable: the runtime's compile-time
//! size assertions panic with it, so the error states the numbers.

/// Bytes past this are dropped (messages are one line).
const CAPACITY: usize = 320;

/// A short UTF-8 message assembled by `const fn`s.
#[derive(Clone, Copy)]
pub struct Message {
    bytes: [u8; CAPACITY],
    len: usize,
}

impl Message {
    /// An empty message.
    pub const fn new() -> Self {
        Message {
            bytes: [0; CAPACITY],
            len: 0,
        }
    }

    /// `self` followed by `text`; a piece that does not fit whole is dropped, so the message stays
    /// valid UTF-8.
    pub const fn str(mut self, text: &str) -> Self {
        let text = text.as_bytes();
        if self.len + text.len() > CAPACITY {
            return self;
        }
        let mut k = 0;
        while k < text.len() {
            self.bytes[self.len + k] = text[k];
            k += 1;
        }
        self.len += text.len();
        self
    }

    /// `self` followed by `n` in decimal.
    pub const fn num(self, mut n: usize) -> Self {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let (_, used) = digits.split_at(start);
        match core::str::from_utf8(used) {
            Ok(text) => self.str(text),
            Err(_) => self,
        }
    }

    /// The message so far.
    pub const fn as_str(&self) -> &str {
        let (used, _) = self.bytes.split_at(self.len);
        match core::str::from_utf8(used) {
            Ok(text) => text,
            Err(_) => "",
        }
    }
}

impl Default for Message {
    fn default() -> Self {
        Message::new()
    }
}

impl core::fmt::Debug for Message {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Message;
    use std::string::ToString;

    #[test]
    fn numbers_and_text() {
        let m = Message::new()
            .str("a ")
            .num(0)
            .str(" ")
            .num(1234567)
            .str(" ×");
        assert_eq!(m.as_str(), "a 0 1234567 ×");
        assert_eq!(
            Message::new().num(usize::MAX).as_str(),
            usize::MAX.to_string()
        );
    }
}
