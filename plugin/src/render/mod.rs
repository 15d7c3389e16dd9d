//! Pure rendering of Workflows to text (owned by the RENDER helper; placeholder).
