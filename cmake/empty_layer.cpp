// Placeholder translation unit for a layer folder that holds no sources yet.
