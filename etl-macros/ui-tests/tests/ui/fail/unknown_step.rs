use etl_macros::workflow;

struct W;

#[workflow]
impl W {
    #[step]
    async fn users(&self) -> etl::Result<u64> { Ok(1) }

    #[step(after = [user])]
    async fn report(&self, orders: &u64) -> etl::Result<u64> { Ok(*orders) }
}

fn main() {}
