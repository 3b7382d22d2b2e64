//! Device strings: `driver` or `driver:key=value,key=value`.
//!
//! The parser only splits the string; each driver then declares the keys it accepts with
//! [`DevArgs::check_keys`] and reads typed values with the getters, so every error names the
//! driver, the key and the bad value.

use crate::error::PmdError;
use std::str::FromStr;

/// A parsed device string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevArgs {
    driver: String,
    args: Vec<(String, String)>,
}

impl DevArgs {
    /// Splits `devstr` into a driver name and `key=value` pairs.
    ///
    /// Empty keys, missing `=`, repeated keys and characters outside `[A-Za-z0-9_]` in the
    /// driver name are errors. Values may contain anything but `,`.
    pub fn parse(devstr: &str) -> Result<Self, PmdError> {
        let syntax = |reason: &str| PmdError::Syntax {
            devstr: devstr.to_string(),
            reason: reason.to_string(),
        };
        let devstr_trim = devstr.trim();
        let (driver, rest) = match devstr_trim.split_once(':') {
            Some((d, r)) => (d, Some(r)),
            None => (devstr_trim, None),
        };
        if driver.is_empty() {
            return Err(syntax("empty driver name"));
        }
        if !driver
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(syntax(&format!(
                "driver name '{driver}' may only contain letters, digits and '_'"
            )));
        }
        let mut args: Vec<(String, String)> = Vec::new();
        if let Some(rest) = rest {
            for item in rest.split(',') {
                if item.is_empty() {
                    return Err(syntax("empty key=value item (stray ',')"));
                }
                let Some((k, v)) = item.split_once('=') else {
                    return Err(syntax(&format!("'{item}' is not key=value")));
                };
                if k.is_empty() {
                    return Err(syntax(&format!("empty key in '{item}'")));
                }
                if args.iter().any(|(ek, _)| ek == k) {
                    return Err(PmdError::DuplicateKey {
                        driver: driver.to_string(),
                        key: k.to_string(),
                    });
                }
                args.push((k.to_string(), v.to_string()));
            }
        }
        Ok(DevArgs {
            driver: driver.to_string(),
            args,
        })
    }

    /// The driver name.
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// All `key=value` pairs, in the order written.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.args
    }

    /// Fails with [`PmdError::UnknownKey`] on the first key not in `known`.
    pub fn check_keys(&self, known: &[&str]) -> Result<(), PmdError> {
        for (k, _) in &self.args {
            if !known.contains(&k.as_str()) {
                return Err(PmdError::UnknownKey {
                    driver: self.driver.clone(),
                    key: k.clone(),
                    known: if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    },
                });
            }
        }
        Ok(())
    }

    /// The raw value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key`, which must be present and non-empty.
    pub fn require(&self, key: &'static str) -> Result<&str, PmdError> {
        match self.get(key) {
            Some("") => Err(self.bad(key, "", "must not be empty")),
            Some(v) => Ok(v),
            None => Err(PmdError::MissingKey {
                driver: self.driver.clone(),
                key,
            }),
        }
    }

    /// The value of `key` parsed as a number in `min..=max`, or `default` when absent.
    pub fn number<T>(&self, key: &str, default: T, min: T, max: T) -> Result<T, PmdError>
    where
        T: FromStr + PartialOrd + Copy + std::fmt::Display,
    {
        let Some(v) = self.get(key) else {
            return Ok(default);
        };
        let n: T = v
            .parse()
            .map_err(|_| self.bad(key, v, &format!("expected an integer in {min}..={max}")))?;
        if n < min || n > max {
            return Err(self.bad(key, v, &format!("must be in {min}..={max}")));
        }
        Ok(n)
    }

    /// The value of `key` as a boolean (`1/0`, `true/false`, `yes/no`, `on/off`), or `default`.
    pub fn flag(&self, key: &str, default: bool) -> Result<bool, PmdError> {
        match self.get(key) {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(v) => Err(self.bad(key, v, "expected 1/0, true/false, yes/no or on/off")),
        }
    }

    /// A [`PmdError::BadValue`] for this driver.
    pub fn bad(&self, key: &str, value: &str, reason: &str) -> PmdError {
        PmdError::BadValue {
            driver: self.driver.clone(),
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Checks that `name` is a valid Linux interface name (1..=15 bytes, no '/', ':' or spaces).
pub(crate) fn check_ifname(args: &DevArgs, key: &str, name: &str) -> Result<(), PmdError> {
    if name.is_empty() || name.len() > 15 {
        return Err(args.bad(key, name, "interface names are 1 to 15 bytes"));
    }
    if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
    {
        return Err(args.bad(
            key,
            name,
            "interface names cannot contain '/', ':' or spaces",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_driver_only_and_pairs() {
        let a = DevArgs::parse("null").unwrap();
        assert_eq!(a.driver(), "null");
        assert!(a.pairs().is_empty());
        let a = DevArgs::parse("af_packet:iface=veth0,queues=2").unwrap();
        assert_eq!(a.driver(), "af_packet");
        assert_eq!(a.get("iface"), Some("veth0"));
        assert_eq!(a.number::<u16>("queues", 1, 1, 16).unwrap(), 2);
        assert_eq!(a.number::<u16>("other", 7, 1, 16).unwrap(), 7);
        let a = DevArgs::parse("pcap:rx=/tmp/a=b.pcap").unwrap();
        assert_eq!(a.get("rx"), Some("/tmp/a=b.pcap"));
    }

    #[test]
    fn syntax_errors_name_the_problem() {
        for (s, needle) in [
            ("", "empty driver"),
            (":a=1", "empty driver"),
            ("null:", "empty key=value"),
            ("null:size", "'size' is not key=value"),
            ("null:=3", "empty key"),
            ("null:size=1,,a=2", "stray"),
            ("nu ll", "may only contain"),
        ] {
            let e = DevArgs::parse(s).unwrap_err().to_string();
            assert!(e.contains(needle), "{s:?}: {e}");
        }
        let e = DevArgs::parse("null:size=1,size=2").unwrap_err();
        assert!(matches!(e, PmdError::DuplicateKey { ref key, .. } if key == "size"));
    }

    #[test]
    fn value_errors_name_key_and_value() {
        let a = DevArgs::parse("null:size=abc,copy=maybe,big=99999").unwrap();
        let e = a
            .number::<u32>("size", 64, 14, 9000)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'abc'") && e.contains("'size'"), "{e}");
        let e = a.flag("copy", false).unwrap_err().to_string();
        assert!(e.contains("'maybe'") && e.contains("'copy'"), "{e}");
        let e = a.number::<u32>("big", 1, 1, 100).unwrap_err().to_string();
        assert!(e.contains("1..=100"), "{e}");
        let e = a.check_keys(&["size", "copy"]).unwrap_err().to_string();
        assert!(
            e.contains("unknown key 'big'") && e.contains("size, copy"),
            "{e}"
        );
        let e = a.require("iface").unwrap_err().to_string();
        assert!(e.contains("missing required key 'iface'"), "{e}");
    }

    #[test]
    fn interface_names_are_checked() {
        let a = DevArgs::parse("tap").unwrap();
        assert!(check_ifname(&a, "name", "fp0").is_ok());
        assert!(check_ifname(&a, "name", "").is_err());
        assert!(check_ifname(&a, "name", "a234567890123456").is_err());
        assert!(check_ifname(&a, "name", "a/b").is_err());
    }
}
