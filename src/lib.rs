pub use tied_runtime::*;
