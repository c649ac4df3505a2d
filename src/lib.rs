//! strangler
