//! (in progress) owned by the deploy-protocol helper.
