#![allow(dead_code)]
pub mod crafted;
