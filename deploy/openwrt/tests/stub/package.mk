# Stand-in for OpenWrt's package.mk: BuildPackage/KernelPackage check what OpenWrt requires of a
# package definition, then run its install recipe into $(STUB_OUT)/ipkg-<name>.
PKG_BUILD_DIR ?= $(BUILD_DIR)/$(PKG_NAME)
PKG_INSTALL_DIR ?= $(PKG_BUILD_DIR)/ipkg-install
nfr_need = $(if $(strip $($(1))),,$(error $(CURDIR): $(2) has no $(1)))
nfr_fields = TITLE DEPENDS SECTION CATEGORY SUBMENU FILES AUTOLOAD KCONFIG BUILDONLY USERID URL
define nfr_reset
$(foreach f,$(nfr_fields),$(eval $(f) :=))
endef
define BuildPackage
$(nfr_reset)
$(eval $(Package/$(1)))
$(call nfr_need,PKG_NAME,$(1))
$(call nfr_need,PKG_VERSION,$(1))
$(call nfr_need,PKG_RELEASE,$(1))
$(call nfr_need,PKG_LICENSE,$(1))
$(call nfr_need,TITLE,$(1))
$(call nfr_need,SECTION,$(1))
$(call nfr_need,CATEGORY,$(1))
$(if $(BUILDONLY),,$(if $(value Package/$(1)/install),,$(error $(CURDIR): package $(1) has no Package/$(1)/install)))
$(if $(value Package/$(1)/description),,$(error $(CURDIR): package $(1) has no description))
$(info PACKAGE $(1) $(PKG_VERSION)-$(PKG_RELEASE) DEPENDS=$(strip $(DEPENDS)))
STUB_PACKAGES += $(1)
STUB_INSTALL_$(1) = $$(call Package/$(1)/install,$(STUB_OUT)/ipkg-$(1))
endef
define KernelPackage
$(nfr_reset)
$(eval $(KernelPackage/$(1)))
$(call nfr_need,TITLE,kmod-$(1))
$(call nfr_need,FILES,kmod-$(1))
$(call nfr_need,AUTOLOAD,kmod-$(1))
$(call nfr_need,SUBMENU,kmod-$(1))
$(if $(value KernelPackage/$(1)/description),,$(error $(CURDIR): kmod-$(1) has no description))
$(if $(filter +kmod-nfnetlink-queue,$(DEPENDS)),,$(error $(CURDIR): kmod-$(1) must depend on +kmod-nfnetlink-queue))
$(info KMOD kmod-$(1) FILES=$(notdir $(FILES)) AUTOLOAD=$(AUTOLOAD) KCONFIG=$(KCONFIG))
STUB_PACKAGES += kmod-$(1)
STUB_INSTALL_kmod-$(1) = $$(Build/Prepare)
endef
HostBuild =
AutoProbe = $(1)
