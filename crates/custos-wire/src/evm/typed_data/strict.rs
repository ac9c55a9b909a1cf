//! The shape checks an EIP-712 document passes before anything hashes it, so that what Custos
//! signs is exactly what an independent implementation (eth-account) would compute, and nothing
//! the document says is read by the policy without being covered by the signature:
//!
//! - `types.EIP712Domain` exists and `domain` has exactly the fields it declares (a `chainId`
//!   that the type does not declare would be shown to the policy but not hashed);
//! - every struct value has exactly its type's fields, no missing and no extra ones (an extra
//!   field is not signed, so the policy must not read it);
//! - integers are JSON integers, decimal strings or `0x` + 1 to 64 hex digits (`"0x"` alone is
//!   refused, as eth-account refuses it), within the type's width;
//! - addresses are `0x` + 40 hex digits, and a mixed-case one must carry a valid EIP-55
//!   checksum (as transfers require; eth-account does not check this, Custos is stricter);
//! - arrays have the declared length, and nesting is bounded.
use super::super::wire::checksum;
use super::TypedDataError;
use alloy_primitives::{Address, U256};
use serde_json::{Map, Value};

/// Deepest struct / array nesting accepted.
const MAX_DEPTH: usize = 16;

fn err(path: &str, why: impl std::fmt::Display) -> TypedDataError {
    TypedDataError(format!("{path}: {why}"))
}

/// Checks `doc` (the whole document) as described in the module docs.
pub fn validate(doc: &Value) -> Result<(), TypedDataError> {
    let types = doc
        .get("types")
        .and_then(Value::as_object)
        .ok_or_else(|| err("types", "must be an object"))?;
    if !types.contains_key("EIP712Domain") {
        return Err(err("types.EIP712Domain", "is missing"));
    }
    let domain = doc
        .get("domain")
        .ok_or_else(|| err("domain", "is missing"))?;
    check_value(types, "EIP712Domain", domain, "domain", 0)?;
    let primary = doc
        .get("primaryType")
        .and_then(Value::as_str)
        .ok_or_else(|| err("primaryType", "must be a string"))?;
    if !types.contains_key(primary) {
        return Err(err("primaryType", format!("`{primary}` is not in types")));
    }
    let message = doc
        .get("message")
        .ok_or_else(|| err("message", "is missing"))?;
    check_value(types, primary, message, "message", 0)
}

fn fields<'a>(types: &'a Map<String, Value>, name: &str) -> Option<Vec<(&'a str, &'a str)>> {
    types.get(name)?.as_array().map(|list| {
        list.iter()
            .filter_map(|f| Some((f.get("name")?.as_str()?, f.get("type")?.as_str()?)))
            .collect()
    })
}

fn check_value(
    types: &Map<String, Value>,
    ty: &str,
    v: &Value,
    path: &str,
    depth: usize,
) -> Result<(), TypedDataError> {
    if depth > MAX_DEPTH {
        return Err(err(path, format!("nested deeper than {MAX_DEPTH}")));
    }
    // Arrays: `T[]` or `T[N]`, the last suffix first.
    if let Some(open) = ty
        .strip_suffix(']')
        .and_then(|t| t.rfind('[').map(|i| (t, i)))
    {
        let (inner_and_len, i) = open;
        let (inner, len) = (&inner_and_len[..i], &inner_and_len[i + 1..]);
        let items = v
            .as_array()
            .ok_or_else(|| err(path, format!("must be an array ({ty})")))?;
        if !len.is_empty() {
            let n: usize = len
                .parse()
                .map_err(|_| err(path, format!("`{ty}` has a malformed length")))?;
            if items.len() != n {
                return Err(err(
                    path,
                    format!("must have {n} items, has {}", items.len()),
                ));
            }
        }
        for (k, item) in items.iter().enumerate() {
            check_value(types, inner, item, &format!("{path}[{k}]"), depth + 1)?;
        }
        return Ok(());
    }
    if let Some(list) = fields(types, ty) {
        let obj = v
            .as_object()
            .ok_or_else(|| err(path, format!("must be an object ({ty})")))?;
        for key in obj.keys() {
            if !list.iter().any(|(n, _)| n == key) {
                return Err(err(
                    &format!("{path}.{key}"),
                    format!("is not a field of `{ty}`, so it would not be signed"),
                ));
            }
        }
        for (name, fty) in list {
            let sub = format!("{path}.{name}");
            let fv = obj
                .get(name)
                .ok_or_else(|| err(&sub, format!("is missing (declared by `{ty}`)")))?;
            check_value(types, fty, fv, &sub, depth + 1)?;
        }
        return Ok(());
    }
    if let Some(bits) = ty.strip_prefix("uint") {
        return check_int(v, path, ty, bits, false);
    }
    if let Some(bits) = ty.strip_prefix("int") {
        return check_int(v, path, ty, bits, true);
    }
    if ty == "address" {
        return check_address(v, path).map(|_| ());
    }
    // bool, string, bytes, bytesN: their encoding is checked by the hasher itself.
    Ok(())
}

fn width(ty: &str, bits: &str, path: &str) -> Result<usize, TypedDataError> {
    if bits.is_empty() {
        return Ok(256);
    }
    match bits.parse::<usize>() {
        Ok(b) if b > 0 && b <= 256 && b % 8 == 0 && !bits.starts_with('0') => Ok(b),
        _ => Err(err(path, format!("`{ty}` is not an integer type"))),
    }
}

/// Reads an unsigned integer value as eth-account does: a non-negative JSON integer, a decimal
/// string, or `0x` with 1 to 64 hex digits.
pub fn parse_uint(v: &Value) -> Option<U256> {
    match v {
        Value::Number(n) => n.as_u64().map(U256::from),
        Value::String(s) => {
            if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                if hex.is_empty() || hex.len() > 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                U256::from_str_radix(hex, 16).ok()
            } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                U256::from_str_radix(s, 10).ok()
            } else {
                None
            }
        }
        _ => None,
    }
}

fn check_int(
    v: &Value,
    path: &str,
    ty: &str,
    bits: &str,
    signed: bool,
) -> Result<(), TypedDataError> {
    let width = width(ty, bits, path)?;
    let bad = || err(path, format!("is not a valid {ty}"));
    let (negative, magnitude) = match v {
        Value::Number(n) if signed && n.as_i64().is_some_and(|i| i < 0) => {
            (true, n.as_i64().map(|i| U256::from(i.unsigned_abs())))
        }
        Value::String(s) if signed && s.starts_with('-') => {
            let digits = &s[1..];
            let ok = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
            (
                true,
                ok.then(|| U256::from_str_radix(digits, 10).ok()).flatten(),
            )
        }
        other => (false, parse_uint(other)),
    };
    let magnitude = magnitude.ok_or_else(bad)?;
    let one = U256::from(1u8);
    let within = match (signed, negative) {
        (false, _) => width == 256 || magnitude < (one << width),
        (true, false) => magnitude < (one << (width - 1)),
        (true, true) => magnitude <= (one << (width - 1)),
    };
    if within {
        Ok(())
    } else {
        Err(err(path, format!("is out of range for {ty}")))
    }
}

/// Reads an address strictly: `0x` + 40 hex digits; all lower case, all upper case, or a valid
/// EIP-55 checksum.
pub fn check_address(v: &Value, path: &str) -> Result<Address, TypedDataError> {
    let s = v
        .as_str()
        .ok_or_else(|| err(path, "must be an address string"))?;
    let hex = s
        .strip_prefix("0x")
        .filter(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| err(path, "must be 0x followed by 40 hex digits"))?;
    let a: Address = s
        .parse()
        .map_err(|_| err(path, "must be 0x followed by 40 hex digits"))?;
    let mixed =
        hex.bytes().any(|b| b.is_ascii_lowercase()) && hex.bytes().any(|b| b.is_ascii_uppercase());
    if mixed && checksum(&a) != s {
        return Err(err(path, "has mixed case but a wrong EIP-55 checksum"));
    }
    Ok(a)
}
