//! Arbitrary bytes decoded as what crosses the module boundary: a message,
//! a reply, a state snapshot and a module's state. Decoding must end in a
//! value or a typed `CodecError`, never a panic; and whatever decodes must
//! encode back to bytes that decode to the same value.
#![no_main]

use counter_api::{CounterMsg, CounterReply};
use libfuzzer_sys::fuzz_target;
use relive_codec::{StateSnapshot, decode, encode_into};

fn round_trip<T>(bytes: &[u8])
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = decode::<T>(bytes) {
        let mut again = Vec::new();
        encode_into(&value, &mut again).expect("a decoded value encodes");
        assert_eq!(decode::<T>(&again).expect("re-encoded bytes decode"), value);
    }
}

fuzz_target!(|bytes: &[u8]| {
    round_trip::<CounterMsg>(bytes);
    round_trip::<CounterReply>(bytes);
    round_trip::<u64>(bytes);
    round_trip::<(String, Vec<u8>)>(bytes);
    if let Ok(snapshot) = decode::<StateSnapshot>(bytes) {
        // A snapshot's state is checked against the reader's schema first.
        let _ = snapshot.decode::<counter_api::CounterV1>();
        let _ = snapshot.decode::<u64>();
    }
});
