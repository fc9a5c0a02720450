//! Rendering: section text from templates, the managed-section file editor, atomic writes.
