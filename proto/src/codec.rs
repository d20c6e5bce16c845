//! The codec of the internal gRPC link: prost, with small initial buffers.
//!
//! tonic's default is 8 KiB for each of a stream's encode and decode
//! buffers. A master holds one long-lived stream per agent, and at 10,000
//! agents the defaults alone cost ~160 MB; our messages are small, and the
//! buffers still grow when one is not.

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec};
use tonic_prost::ProstCodec;

/// Initial per-stream buffer.
const BUFFER: usize = 1024;
/// Encoded bytes after which a stream yields a frame. tonic's default is
/// 32 KiB, and a buffer keeps the capacity of its biggest batch: a master
/// sending an agent a burst of launches, or an agent sending a burst of
/// updates, grew its buffer (and the peer's decode buffer, which takes whole
/// frames) to ~10 KiB per session, for good. Yielding after each KiB keeps
/// both near the initial size, for a few more, smaller, HTTP/2 frames.
const YIELD_THRESHOLD: usize = BUFFER;

#[derive(Debug, Clone)]
pub struct SmallCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for SmallCodec<T, U> {
    fn default() -> Self {
        SmallCodec(PhantomData)
    }
}

impl<T, U> Codec for SmallCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = <ProstCodec<T, U> as Codec>::Encoder;
    type Decoder = <ProstCodec<T, U> as Codec>::Decoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::new(BUFFER, YIELD_THRESHOLD))
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(BufferSettings::new(BUFFER, YIELD_THRESHOLD))
    }
}
