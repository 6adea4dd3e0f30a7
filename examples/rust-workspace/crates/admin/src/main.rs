//! admin: a command shipped beside the server (`/app/admin` in the image).

fn main() {
    println!("{}", greeting::greeting("admin"));
}
