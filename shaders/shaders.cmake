# Shader variants compiled into the binary (see cmake/Shaders.cmake for qi_shader()).
qi_shader(NAME scale SOURCE scale.comp)
