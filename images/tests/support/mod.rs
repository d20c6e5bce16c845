#![allow(dead_code)]
pub mod crafted;
pub mod mock_registry;
