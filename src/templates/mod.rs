//! Provider and extension templates, and the table of valid PJSIP options.
