mod registry;
mod support;
