use etl::Batches;
use etl_macros::workflow;

struct W;

#[workflow]
impl W {
    #[step]
    async fn users(&self) -> etl::Result<Vec<String>> { Ok(Vec::new()) }

    #[step]
    async fn count(&self, users: &Batches) -> etl::Result<usize> { Ok(users.num_rows()) }
}

fn main() {}
