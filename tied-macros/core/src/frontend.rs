//! Which macro is expanding: the front end is a value the pipeline carries (serde's `Derive`), and
//! what differs in the words of its messages is asked of it here.

/// The framework a layer is written for, chosen by the attribute the user wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frontend {
    /// `#[tied::layer]`: a dfdx module, sizes in the tensor types.
    Dfdx,
    /// `#[tied::burn::layer]`: a Burn module, sizes in its config, stated by `shape = [..]`.
    Burn,
}

impl Frontend {
    /// The attribute as the user writes it, for messages: `tied::layer`.
    pub fn attribute(self) -> &'static str {
        match self {
            Frontend::Dfdx => "tied::layer",
            Frontend::Burn => "tied::burn::layer",
        }
    }

    /// The key naming the generated type that builds the layer: dfdx's builder ZST, or Burn's
    /// config.
    pub fn builder_key(self) -> &'static str {
        match self {
            Frontend::Dfdx => "builder",
            Frontend::Burn => "config",
        }
    }
}
