KERNEL_MAKE := true
