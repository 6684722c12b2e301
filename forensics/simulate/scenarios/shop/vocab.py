"""Fixed vocabulary of the simulated online shop: storefront activities,
their routes and messages, the customer habit profiles and the hand-set
transition weights of the behaviour model.  Data only; no randomness here.
"""

from __future__ import annotations

import numpy as np

from ...engine.chain import start_vector as action_weights
from ...engine.chain import transition_matrices as stack_matrices

#: Storefront activities (the logfmt ``activity`` field).  Index = code.
ACTIONS: tuple[str, ...] = (
    "sign_in", "browse_catalog", "search", "view_product", "add_to_cart", "remove_item", "view_cart",
    "apply_coupon", "change_currency", "change_shipping_address", "checkout", "pay", "track_order",
    "write_review", "add_to_wishlist", "sign_out",
)
A = len(ACTIONS)
#: Pseudo-action "session ends" (never written).
END = A
CODE = {name: i for i, name in enumerate(ACTIONS)}

#: The rare five-step sequence whose checkout writes a corrupt tax-rules
#: entry (the coupon is re-applied after a currency switch and an item removal;
#: the quote converts the discount twice and "refreshes" the region's cached
#: tax rules with a NaN rate).  Note the repeated ``apply_coupon``.
TRIGGER = ("apply_coupon", "change_currency", "remove_item", "apply_coupon", "checkout")
#: A rare sequence that does no harm (a few times a day, far from onsets).
RARE_HARMLESS = ("change_shipping_address", "change_currency", "add_to_wishlist", "write_review")
#: A rare harmless sequence done once, by chance, shortly before the first onset.
COINCIDENCE = ("track_order", "change_shipping_address", "search", "add_to_wishlist")
#: The path most buyers take, failing ones included.
COMMON_PATH = ("browse_catalog", "view_product", "add_to_cart")

#: HTTP method and route per activity ({p} product SKU, {l} cart line, {o} order, {c} category).
ROUTES: dict[str, tuple[str, str]] = {
    "sign_in": ("POST", "/account/login"),
    "browse_catalog": ("GET", "/c/{c}"),
    "search": ("GET", "/search?q={q}"),
    "view_product": ("GET", "/p/{p}"),
    "add_to_cart": ("POST", "/cart/items"),
    "remove_item": ("DELETE", "/cart/items/{l}"),
    "view_cart": ("GET", "/cart"),
    "apply_coupon": ("POST", "/cart/coupon"),
    "change_currency": ("POST", "/prefs/currency"),
    "change_shipping_address": ("PUT", "/checkout/shipping-address"),
    "checkout": ("POST", "/checkout"),
    "pay": ("POST", "/checkout/payment"),
    "track_order": ("GET", "/orders/{o}/tracking"),
    "write_review": ("POST", "/p/{p}/reviews"),
    "add_to_wishlist": ("POST", "/wishlist/items"),
    "sign_out": ("POST", "/account/logout"),
}

MESSAGES: dict[str, str] = {
    "sign_in": "customer signed in",
    "browse_catalog": "category page rendered",
    "search": "search results rendered",
    "view_product": "product page rendered",
    "add_to_cart": "item added to cart",
    "remove_item": "item removed from cart",
    "view_cart": "cart rendered",
    "apply_coupon": "coupon applied",
    "change_currency": "display currency changed",
    "change_shipping_address": "shipping address updated",
    "checkout": "checkout started",
    "pay": "order placed",
    "track_order": "tracking page rendered",
    "write_review": "review submitted",
    "add_to_wishlist": "item added to wishlist",
    "sign_out": "customer signed out",
}

#: Activities that price something through the pricing service (which reads
#: the region's tax rules from the price cache).
PRICED = ("browse_catalog", "search", "view_product", "add_to_cart", "remove_item", "view_cart", "apply_coupon",
          "change_currency", "checkout", "pay")
#: Priced activities whose page shows prices only (a failed quote degrades to
#: "price unavailable", no error page).
LISTING = ("browse_catalog", "search", "view_product")
#: Activities that change the cart (write ``cart:<sid>``).
CART_WRITES = ("add_to_cart", "remove_item", "apply_coupon")
#: Activities that carry a product SKU.
PRODUCT_ACTIONS = ("view_product", "add_to_cart", "write_review", "add_to_wishlist")

#: Median think time after an activity (seconds); log-normal spread.
DWELL_S: dict[str, float] = {
    "sign_in": 10, "browse_catalog": 25, "search": 15, "view_product": 40, "add_to_cart": 10, "remove_item": 8,
    "view_cart": 20, "apply_coupon": 12, "change_currency": 8, "change_shipping_address": 40, "checkout": 45,
    "pay": 10, "track_order": 20, "write_review": 90, "add_to_wishlist": 8, "sign_out": 1,
}

#: Shipping regions: (code, currency, share of customers).
REGIONS: tuple[tuple[str, str, float], ...] = (
    ("DE", "EUR", 0.30), ("GB", "GBP", 0.22), ("FR", "EUR", 0.15), ("NL", "EUR", 0.10), ("PL", "PLN", 0.08),
    ("US", "USD", 0.15),
)
#: The region whose tax-rules entry the trigger poisons (the trigger users live there).
POISONED_REGION = "GB"

# --------------------------------------------------------------- transitions

_BASE: dict[str, dict[str, float]] = {
    "sign_in": {"browse_catalog": 30, "search": 25, "view_cart": 15, "track_order": 12, "view_product": 8,
                "add_to_wishlist": 2, "change_shipping_address": 3, "change_currency": 1, "END": 4},
    "browse_catalog": {"view_product": 60, "browse_catalog": 12, "search": 10, "view_cart": 3, "change_currency": 1.5,
                       "sign_in": 3, "END": 10},
    "search": {"view_product": 60, "search": 18, "browse_catalog": 8, "change_currency": 1, "END": 12},
    "view_product": {"add_to_cart": 25, "view_product": 18, "browse_catalog": 12, "search": 12, "add_to_wishlist": 7,
                     "write_review": 1.5, "view_cart": 6, "END": 16},
    "add_to_cart": {"view_cart": 30, "view_product": 25, "browse_catalog": 10, "search": 10, "checkout": 12,
                    "apply_coupon": 4, "add_to_cart": 3, "END": 8},
    "remove_item": {"view_cart": 35, "view_product": 15, "checkout": 20, "browse_catalog": 10, "apply_coupon": 3,
                    "END": 15},
    "view_cart": {"checkout": 35, "remove_item": 10, "apply_coupon": 10, "view_product": 15, "browse_catalog": 8,
                  "change_currency": 1, "END": 18},
    "apply_coupon": {"checkout": 40, "view_cart": 30, "apply_coupon": 8, "remove_item": 6, "change_currency": 1,
                     "END": 12},
    "change_currency": {"browse_catalog": 30, "view_product": 20, "view_cart": 20, "search": 10, "checkout": 5,
                        "apply_coupon": 2, "END": 10},
    "change_shipping_address": {"checkout": 50, "pay": 15, "view_cart": 15, "change_currency": 3, "END": 10},
    "checkout": {"pay": 62, "change_shipping_address": 12, "view_cart": 10, "apply_coupon": 4, "remove_item": 2,
                 "END": 10},
    "pay": {"track_order": 10, "browse_catalog": 10, "sign_out": 15, "END": 65},
    "track_order": {"track_order": 10, "write_review": 12, "browse_catalog": 20, "search": 10, "sign_out": 10,
                    "END": 38},
    "write_review": {"view_product": 20, "browse_catalog": 15, "track_order": 10, "sign_out": 10, "END": 45},
    "add_to_wishlist": {"view_product": 35, "browse_catalog": 20, "search": 15, "view_cart": 5, "END": 25},
    "sign_out": {"END": 1},
}

#: Customer habit profiles: column multipliers on the base matrix.
PROFILES: dict[str, dict[str, float]] = {
    "browser": {"view_product": 1.5, "browse_catalog": 1.4, "add_to_wishlist": 2.0, "END": 1.3},
    "buyer": {"add_to_cart": 1.6, "checkout": 1.5, "pay": 1.2},
    "bargain_hunter": {"apply_coupon": 3.0, "remove_item": 1.8, "view_cart": 1.3},
    "returning": {"track_order": 3.0, "write_review": 2.5},
    "international": {"change_currency": 3.5, "change_shipping_address": 2.5},
}
PROFILE_WEIGHTS = (0.30, 0.25, 0.17, 0.18, 0.10)

START = {"browse_catalog": 35, "search": 25, "view_product": 15, "sign_in": 15, "track_order": 5, "view_cart": 5}


def transition_matrices() -> np.ndarray:
    """Stacked ``(profiles, A + 1, A + 1)`` row-stochastic matrices.

    Examples
    --------
    >>> m = transition_matrices()
    >>> m.shape, bool(np.allclose(m.sum(axis=2), 1.0))
    ((5, 17, 17), True)
    """
    return stack_matrices(ACTIONS, [_BASE] * len(PROFILES), list(PROFILES.values()))


def start_vector() -> np.ndarray:
    return action_weights(ACTIONS, START)
