//! The errors of one expansion, collected so the user sees all of them at once (serde's `Ctxt`).
//! A leaf module: the parsers, the model and the checks all push here, and none of them imports
//! another for it.

use std::fmt::Display;

use quote::ToTokens;

/// Every error found so far, combined into one `syn::Error` (each keeps its own span).
///
/// [`Errors::finish`] must be called: dropping an `Errors` unfinished panics, as serde's `Ctxt`
/// does, so a path of the driver that would lose errors is a bug found by any test that takes it,
/// whatever the input (the panic does not depend on whether the user's struct has errors).
#[derive(Default)]
pub struct Errors {
    error: Option<syn::Error>,
    finished: bool,
}

impl Errors {
    pub fn push(&mut self, err: syn::Error) {
        match &mut self.error {
            Some(all) => all.combine(err),
            None => self.error = Some(err),
        }
    }

    pub fn spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// The errors, if any: the end of collecting.
    pub fn finish(mut self) -> syn::Result<()> {
        self.finished = true;
        match self.error.take() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        // Not while unwinding from another panic: that one is the message worth reading.
        if !self.finished && !std::thread::panicking() {
            panic!(
                "`Errors` dropped without `finish`: errors would be lost (a bug of tied-macros)"
            );
        }
    }
}
